/**
 * WGSL shared by the GEMM kernels (matmul.ts, quant/gemm-q4.ts): how a thread finds its output tile and
 * how a tile of f32 accumulators is stored through the kernel's `fin(v, n)` (bias, cast), skipping rows
 * and columns past the edge. Both expect uniforms `p.M`, `p.N` and an output array `y` [M, N].
 */
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Flat kernels: thread id (builtins `g`, `nw`) → the origin (m0, n0) of its TM × TN tile over `cols`
 * output columns; spare threads return.
 */
export function flatTileOrigin(wg: number, tm: number, tn: number, cols = 'p.N'): string {
  return `let NB = (${cols} + ${tn - 1}u) / ${tn}u;
  let id = g.y * nw.x * ${wg}u + g.x;
  if (id >= NB * ((p.M + ${tm - 1}u) / ${tm}u)) { return; }
  let m0 = (id / NB) * ${tm}u;
  let n0 = (id % NB) * ${tn}u;`;
}

/**
 * How a kernel stores the f32 accumulator `v` of output column `n` at index `i` of y: by default through
 * its `fin(v, n)` (bias, cast). With `pair` stores, `u` is the partner accumulator (see below).
 */
export type TileStore = (i: string, v: string, n: string, u: string) => string;
const finStore: TileStore = (i, v, n) => `y[${i}] = fin(${v}, ${n});`;
/** The siluMulHalves epilogue: output n = silu(tile column n)·(its partner column), cast to y's type Y. */
export const siluPairStore: TileStore = (i, g, _n, u) => `y[${i}] = Y(silu(${g}) * ${u});`;

/**
 * The columns a tile stores: all of them into y [M, p.N], or with `pair` the first half, column j with
 * partner j + width/2, into y [M, NO] (the kernel declares NO, its output width).
 */
function storeCols(width: number, pair: boolean) {
  return { n: pair ? 'NO' : 'p.N', w: pair ? width / 2 : width };
}

/** Flat kernels: stores accumulators c{i}_{v} (vec4 over columns 4v … 4v+3) of the tile at (m0, n0). */
export function flatTileStore(tm: number, tn: number, put: TileStore = finStore, pair = false): string {
  const { n: N, w } = storeCols(tn, pair);
  const acc = (i: number, j: number) => `c${i}_${j >> 2}[${j & 3}]`;
  return range(tm)
    .map((i) => {
      const cols = range(w).map(
        (j) =>
          `if (n0 + ${j}u < ${N}) { ${put(`m * ${N} + n0 + ${j}u`, acc(i, j), `n0 + ${j}u`, acc(i, j + w))} }`,
      );
      return `if (m0 + ${i}u < p.M) {\n    let m = m0 + ${i}u;\n    ${cols.join('\n    ')}\n  }`;
    })
    .join('\n  ');
}

/** Tiled kernels: stores c{i}[j] = output (m0 + 16i, n0 + 16j), S × S per thread of a 16 × 16 workgroup. */
export function tiledStore(S: number, put: TileStore = finStore, pair = false): string {
  const { n: N, w } = storeCols(S, pair);
  return range(S)
    .map((i) => {
      const cols = range(w).map(
        (j) =>
          `if (n0 + ${16 * j}u < ${N}) { ${put(`m * ${N} + n0 + ${16 * j}u`, `c${i}[${j}]`, `n0 + ${16 * j}u`, `c${i}[${j + w}]`)} }`,
      );
      return `if (m0 + ${16 * i}u < p.M) {\n    let m = m0 + ${16 * i}u;\n    ${cols.join('\n    ')}\n  }`;
    })
    .join('\n  ');
}
