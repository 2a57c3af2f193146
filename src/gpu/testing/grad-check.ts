/**
 * Finite-difference gradient checks for the CPU references of backward kernels.
 *
 * For a forward reference f (inputs → outputs y) and an upstream gradient g, the scalar
 * L(x) = Σ g·f(x) has ∂L/∂x = the backward's dX for that g. `numericGrad` estimates it by central
 * differences, one element at a time: (L(x + h) − L(x − h)) / (x₊ − x₋), where x₊ and x₋ are the
 * perturbed values as the Float32Array actually stores them (so f32 rounding of x ± h does not bias the
 * quotient) and L is summed in f64. The references compute in f64 and round their outputs to f32, so
 * the estimate carries ~|g·y|·6e-8·√n / h of rounding noise plus O(h²·f''') of truncation: with
 * h = 1e-2 and O(1) values both stay near 1e-4 — the tolerances in the tests say so.
 */
export function numericGrad(
  f: (x: Float32Array) => ArrayLike<number>,
  x: Float32Array,
  g: ArrayLike<number>,
  h = 1e-2,
): Float64Array {
  const loss = (y: ArrayLike<number>) => {
    if (y.length !== g.length) throw new Error(`numericGrad: output has ${y.length} values, g ${g.length}`);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += g[i] * y[i];
    return s;
  };
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const up = x[i];
    const lp = loss(f(x));
    x[i] = x0 - h;
    const down = x[i];
    const lm = loss(f(x));
    x[i] = x0;
    dx[i] = (lp - lm) / (up - down);
  }
  return dx;
}
