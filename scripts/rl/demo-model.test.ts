/** The demo model's checkpoint writing: the connector's trained halves go back as the hub's to_kv. */
import { describe, expect, it } from 'vitest';
import { joinKv } from './demo-model';

describe('joinKv', () => {
  it("joins to_k and to_v into to_kv (k's rows, then v's) and leaves other tensors alone", () => {
    const p = 'connector._connector.layers.0.0.';
    const w = new Map([
      [`${p}to_k.weight`, Float32Array.of(1, 2)],
      [`${p}to_v.weight`, Float32Array.of(3, 4)],
      [`${p}to_q.weight`, Float32Array.of(5)],
    ]);
    joinKv(w);
    expect([...w.keys()].sort()).toEqual([`${p}to_kv.weight`, `${p}to_q.weight`]);
    expect([...w.get(`${p}to_kv.weight`)!]).toEqual([1, 2, 3, 4]);
  });
});
