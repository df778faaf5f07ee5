import { main } from './server';

// A separate entry file because PM2 cluster mode loads the script with require():
// `require.main === module` is never true under PM2.
main().catch((err: unknown) => {
  process.stderr.write(`start-up failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
