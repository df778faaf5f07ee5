import { z } from 'zod';
import { CONFIG_FIELDS } from '../../service/src/config';
import { cell } from './markdown';

/**
 * The key table of docs/configuration.md, from the zod schema the service
 * parses its environment with: what each key accepts and its description come
 * from the schema's JSON Schema, its default from parsing an unset key.
 */
export function configTable(): string {
  const rows = Object.entries(CONFIG_FIELDS).map(([key, field]: [string, z.ZodType]) => {
    const json = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' });
    return `| \`${key}\` | ${defaultOf(field)} | ${cell(accepts(json))} | ${cell(json.description ?? '')} |`;
  });
  return ['| key | default | accepts | description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

function defaultOf(field: z.ZodType): string {
  const unset = field.safeParse(undefined);
  if (!unset.success) return '**required**';
  const value: unknown = unset.data;
  if (value === undefined) return 'unset';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : `\`${value.join(',')}\``;
  return `\`${String(value)}\``;
}

function accepts(json: z.core.JSONSchema.BaseSchema): string {
  if (json.enum) return json.enum.map((v) => `\`${String(v)}\``).join(', ');
  if (json.type === 'integer' || json.type === 'number') {
    const range = `${json.minimum ?? '…'}–${json.maximum ?? '…'}`;
    return json.type === 'integer' ? `integer ${range}` : `number ${range}`;
  }
  if (json.format === 'uri') return 'URL';
  if (json.pattern) return `\`${json.pattern}\``;
  return 'text';
}
