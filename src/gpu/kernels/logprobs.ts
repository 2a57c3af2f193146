import { type GpuContext, grid, type Variant, wgslTypes } from '../context';
import { memoShader } from '../pipeline-cache';
import { assertDtype, assertShape, type DType, type Tensor } from '../tensor';

/**
 * Token log-probabilities: logp[r] = logits[r, t_r] − log Σ_j exp(logits[r, j]), the log-softmax of
 * each row gathered at its target id. logits [N, V] (f32 or f16), targets u32 [N] → logp f32 [N].
 * Cross-entropy is −logp (a caller's mean over rows, or a masked mean, is a scalar on top).
 * A target ≥ V marks an ignored row: logp = 0 and its gradient row is 0.
 *
 * Forward, stable for any V (151936 for Qwen2, a few hundred for a toy tokenizer): the row max m is
 * found first, then s = Σ exp(x − m) (every exponent ≤ 0, so nothing overflows; masked entries such as
 * −3.4e38 add exactly 0). The sum is kept in blocks of 256 terms, each block's partial added to the
 * total, so a 151936-term f32 sum errs by ~(256 + V/256)·2^-24 relative at worst rather than V·2^-24.
 * 'flat': one thread per row, no barriers. 'tiled': one workgroup per row, threads striding the row
 * and merging max and sum in shared memory.
 *
 * Backward: dLogits[r, j] = dLogp[r]·([j = t_r] − softmax(logits[r])_j), f32 [N, V], one thread per
 * element. It takes the forward's logp as the saved tensor: log Σ exp = logits[r, t_r] − logp[r], so
 * the row is not reduced again.
 */
const WG = 64;
const BWG = 256;
const BLOCK = 256;

function forwardShader(variant: Variant, dtype: DType): string {
  const head = `${wgslTypes({ T: dtype })}
struct P { N: u32, V: u32 }
@group(0) @binding(0) var<storage, read> logits: array<T>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> logp: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

fn row_max(base: u32, first: u32, stride: u32) -> f32 {
  var m = -3.4028234663852886e38;
  for (var c = first; c < p.V; c += stride) { m = max(m, f32(logits[base + c])); }
  return m;
}

// Σ exp(x − m) over this thread's share of the row, in blocks of ${BLOCK} terms (see the header).
fn row_sum(base: u32, first: u32, stride: u32, m: f32) -> f32 {
  var total = 0.0;
  var part = 0.0;
  var k = 0u;
  for (var c = first; c < p.V; c += stride) {
    part += exp(f32(logits[base + c]) - m);
    k++;
    if (k == ${BLOCK}u) { total += part; part = 0.0; k = 0u; }
  }
  return total + part;
}

fn finish(r: u32, m: f32, s: f32) {
  let t = targets[r];
  var v = 0.0;
  if (t < p.V) { v = (f32(logits[r * p.V + t]) - m) - log(s); }
  logp[r] = v;
}
`;
  if (variant === 'flat') {
    return `${head}
@compute @workgroup_size(${WG})
fn logprobs_forward_flat(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let r = g.y * n.x * ${WG}u + g.x;
  if (r >= p.N) { return; }
  let base = r * p.V;
  let m = row_max(base, 0u, 1u);
  finish(r, m, row_sum(base, 0u, 1u, m));
}`;
  }
  return `${head}
var<workgroup> part: array<f32, ${WG}>;

// Tree reduction of part[] (max or sum); every thread returns part[0].
fn reduce(is_max: bool, l: u32, v: f32) -> f32 {
  part[l] = v;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h >>= 1u) {
    if (l < h) { part[l] = select(part[l] + part[l + h], max(part[l], part[l + h]), is_max); }
    workgroupBarrier();
  }
  let out = part[0];
  workgroupBarrier(); // part[] is reused by the next reduction
  return out;
}

@compute @workgroup_size(${WG})
fn logprobs_forward_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) n: vec3u,
                          @builtin(local_invocation_id) l: vec3u) {
  let r = wg.y * n.x + wg.x;
  if (r >= p.N) { return; }
  let base = r * p.V;
  let m = reduce(true, l.x, row_max(base, l.x, ${WG}u));
  let s = reduce(false, l.x, row_sum(base, l.x, ${WG}u, m));
  if (l.x == 0u) { finish(r, m, s); }
}`;
}

function backwardShader(dtype: DType): string {
  return `${wgslTypes({ T: dtype })}
struct P { N: u32, V: u32 }
@group(0) @binding(0) var<storage, read> dlogp: array<f32>;
@group(0) @binding(1) var<storage, read> logits: array<T>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> logp: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

@compute @workgroup_size(${BWG})
fn logprobs_backward(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) n: vec3u) {
  let i = g.y * n.x * ${BWG}u + g.x;
  if (i >= p.N * p.V) { return; }
  let r = i / p.V;
  let j = i % p.V;
  let t = targets[r];
  if (t >= p.V) { dlogits[i] = 0.0; return; }
  let lse = f32(logits[r * p.V + t]) - logp[r];
  let sm = exp(f32(logits[i]) - lse);
  dlogits[i] = dlogp[r] * (select(0.0, 1.0, j == t) - sm);
}`;
}

function checkShapes(name: string, logits: Tensor, targets: Tensor): [number, number] {
  if (logits.shape.length !== 2) throw new Error(`${name}.logits: expected [N, V], got [${logits.shape}]`);
  const [N, V] = logits.shape;
  assertDtype(`${name}.logits`, logits, 'f32', 'f16');
  assertShape(`${name}.targets`, targets, [N]);
  assertDtype(`${name}.targets`, targets, 'u32');
  return [N, V];
}

/** logits [N, V] (f32 or f16), targets u32 [N] → logp f32 [N] (0 where the target is ≥ V). */
export function logprobs(ctx: GpuContext, logits: Tensor, targets: Tensor, variant = ctx.variant): Tensor {
  const [N, V] = checkShapes('logprobs', logits, targets);
  const logp = ctx.empty([N], 'f32');
  const entry = `logprobs_forward_${variant}`;
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`logprobs|${variant}|${logits.dtype}`, () => forwardShader(variant, logits.dtype)),
      entry,
    ),
    bindings: [logits, targets, logp],
    uniforms: { u32: [N, V] },
    workgroups: grid(variant === 'flat' ? Math.ceil(N / WG) : N, ctx.maxWorkgroupsPerDim),
    label: entry,
  });
  return logp;
}

/**
 * Gradient of logprobs for upstream dLogp f32 [N] (for a cross-entropy loss, −1/N or the mask
 * weights): dLogits f32 [N, V]. `logp` is the forward's output for the same logits and targets.
 */
export function logprobsBackward(
  ctx: GpuContext,
  dLogp: Tensor,
  logits: Tensor,
  targets: Tensor,
  logp: Tensor,
): Tensor {
  const [N, V] = checkShapes('logprobsBackward', logits, targets);
  assertShape('logprobsBackward.dLogp', dLogp, [N]);
  assertDtype('logprobsBackward.dLogp', dLogp, 'f32');
  assertShape('logprobsBackward.logp', logp, [N]);
  assertDtype('logprobsBackward.logp', logp, 'f32');
  const dLogits = ctx.empty([N, V], 'f32');
  ctx.dispatch({
    pipeline: ctx.pipeline(
      memoShader(`logprobs_backward|${logits.dtype}`, () => backwardShader(logits.dtype)),
      'logprobs_backward',
    ),
    bindings: [dLogp, logits, targets, logp, dLogits],
    uniforms: { u32: [N, V] },
    workgroups: grid(Math.ceil((N * V) / BWG), ctx.maxWorkgroupsPerDim),
    label: 'logprobs_backward',
  });
  return dLogits;
}

// ---- CPU references: plain loops in f64 ----------------------------------------------------------

/** log Σ_j exp(logits[r, j]) per row, max subtracted first. */
function logSumExpCpu(logits: Float32Array, V: number, r: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < V; j++) m = Math.max(m, logits[r * V + j]);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(logits[r * V + j] - m);
  return m + Math.log(s);
}

export function logprobsCpu(logits: Float32Array, targets: ArrayLike<number>, V: number): Float32Array {
  const logp = new Float32Array(targets.length);
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r];
    if (t < V) logp[r] = logits[r * V + t] - logSumExpCpu(logits, V, r);
  }
  return logp;
}

export function logprobsBackwardCpu(
  dLogp: Float32Array,
  logits: Float32Array,
  targets: ArrayLike<number>,
  V: number,
): Float32Array {
  const dLogits = new Float32Array(logits.length);
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r];
    if (t >= V) continue;
    const lse = logSumExpCpu(logits, V, r);
    for (let j = 0; j < V; j++)
      dLogits[r * V + j] = dLogp[r] * ((j === t ? 1 : 0) - Math.exp(logits[r * V + j] - lse));
  }
  return dLogits;
}
