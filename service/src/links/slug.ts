import { randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 62^7 ≈ 3.5e12 slugs: collisions stay rare for billions of links, and are retried. */
export const GENERATED_SLUG_LENGTH = 7;

/** A slug of base62 characters drawn from the CSPRNG (randomInt has no modulo bias). */
export function generateSlug(length = GENERATED_SLUG_LENGTH): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}
