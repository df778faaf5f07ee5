import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'service/prisma/schema.prisma',
  migrations: { path: 'service/prisma/migrations' },
});
