import { williamsOrders } from '../bench/rounds';

describe('make bench’s alternating rounds', () => {
  it.each([4, 6])('orders %i cases so that each runs once in each position and follows each other case once', (n) => {
    const orders = williamsOrders(n);
    expect(orders).toHaveLength(n);
    for (let position = 0; position < n; position++) {
      expect(new Set(orders.map((o) => o[position])).size).toBe(n);
    }
    const pairs = new Set(orders.flatMap((o) => o.slice(1).map((c, i) => `${o[i]}>${c}`)));
    expect(pairs.size).toBe(n * (n - 1));
  });

  it('keeps the four-case order the earlier rounds used', () => {
    expect(williamsOrders(4)).toEqual([
      [0, 1, 3, 2],
      [1, 2, 0, 3],
      [2, 3, 1, 0],
      [3, 0, 2, 1],
    ]);
  });
});
