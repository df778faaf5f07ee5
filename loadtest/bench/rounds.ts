/**
 * The orders of `n` cases over `n` rounds (n even), a Williams Latin square:
 * each case runs once in each position and directly follows each other case
 * once, so a drift of the machine's speed favours none. Row r is the first
 * row (0, 1, n−1, 2, n−2, …) shifted by r.
 */
export function williamsOrders(n: number): number[][] {
  if (n % 2 !== 0) throw new Error(`a Williams square of one row per case needs an even number of cases, got ${n}`);
  const first = [0];
  for (let i = 1; first.length < n; i++) {
    first.push(i);
    if (first.length < n) first.push(n - i);
  }
  return first.map((_, r) => first.map((c) => (c + r) % n));
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
