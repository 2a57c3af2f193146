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
 * its `fin(v, n)` (bias, cast).
 */
export type TileStore = (i: string, v: string, n: string) => string;
const finStore: TileStore = (i, v, n) => `y[${i}] = fin(${v}, ${n});`;

/** Flat kernels: stores accumulators c{i}_{v} (vec4 over columns 4v … 4v+3) of the tile at (m0, n0). */
export function flatTileStore(tm: number, tn: number, put: TileStore = finStore): string {
  return range(tm)
    .map((i) => {
      const cols = range(tn).map(
        (j) =>
          `if (n0 + ${j}u < p.N) { ${put(`m * p.N + n0 + ${j}u`, `c${i}_${j >> 2}[${j & 3}]`, `n0 + ${j}u`)} }`,
      );
      return `if (m0 + ${i}u < p.M) {\n    let m = m0 + ${i}u;\n    ${cols.join('\n    ')}\n  }`;
    })
    .join('\n  ');
}

/** Tiled kernels: stores c{i}[j] = output (m0 + 16i, n0 + 16j), S × S per thread of a 16 × 16 workgroup. */
export function tiledStore(S: number, put: TileStore = finStore): string {
  return range(S)
    .map((i) => {
      const cols = range(S).map(
        (j) =>
          `if (n0 + ${16 * j}u < p.N) { ${put(`m * p.N + n0 + ${16 * j}u`, `c${i}[${j}]`, `n0 + ${16 * j}u`)} }`,
      );
      return `if (m0 + ${16 * i}u < p.M) {\n    let m = m0 + ${16 * i}u;\n    ${cols.join('\n    ')}\n  }`;
    })
    .join('\n  ');
}
