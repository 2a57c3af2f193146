/**
 * The moving-squares task (issue 12): a clip of one or two coloured squares, each moving in a straight
 * line, and the question "which way does the {colour} square move?" with four options.
 *
 * Clips are 128×128 px, 8 fps, 24 frames, black background. A square is 16×16 px of pure red, green,
 * blue or yellow and moves 3 px per frame left, right, up or down; it stays inside the frame for the
 * whole clip and starts anywhere that allows it. Two squares have different colours and different
 * directions, and never overlap in any frame (so every frame shows both whole).
 *
 * Pure logic only (seeded sampling, RGBA frames, texts); the CLI that encodes clips is
 * scripts/rl/squares.ts. Coordinates are pixels, x rightwards and y downwards from the top left.
 */
import { rng } from '../../gpu/random';
import { formatOptions } from '../../model/prompt';
import { thinkThenAnswer } from '../dataset';

export const CLIP_SIZE = 128;
export const CLIP_FPS = 8;
export const CLIP_FRAMES = 24;
export const SQUARE_SIZE = 16;
/** Pixels a square moves per frame. */
export const SQUARE_SPEED = 3;

export const COLOURS = ['red', 'green', 'blue', 'yellow'] as const;
export type Colour = (typeof COLOURS)[number];
export const COLOUR_RGB: Record<Colour, readonly [number, number, number]> = {
  red: [255, 0, 0],
  green: [0, 255, 0],
  blue: [0, 0, 255],
  yellow: [255, 255, 0],
};

/** In option order: A. left, B. right, C. up, D. down. */
export const DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export type Direction = (typeof DIRECTIONS)[number];
const STEP: Record<Direction, readonly [number, number]> = {
  left: [-1, 0],
  right: [1, 0],
  up: [0, -1],
  down: [0, 1],
};

export interface Square {
  colour: Colour;
  direction: Direction;
  /** Top-left corner in frame 0. */
  x0: number;
  y0: number;
}

export interface SquaresClip {
  /** One or two squares, drawn in this order. */
  squares: Square[];
  /** Index in `squares` of the square the question asks about. */
  asked: number;
}

export interface SampleOptions {
  /** Colours the clip may use (every square's colour comes from them); default all four. */
  colours?: readonly Colour[];
  /** Probability of a two-square clip when two colours are allowed; default 0.5. */
  twoSquares?: number;
}

/** Top-left corner of `s` in frame `t`. */
export function squareAt(s: Square, t: number): { x: number; y: number } {
  const [dx, dy] = STEP[s.direction];
  return { x: s.x0 + dx * SQUARE_SPEED * t, y: s.y0 + dy * SQUARE_SPEED * t };
}

/** Pixels a square travels over the clip (69). */
const TRAVEL = SQUARE_SPEED * (CLIP_FRAMES - 1);
const LAST = CLIP_SIZE - SQUARE_SIZE; // largest top-left coordinate inside the frame

/** Range [lo, hi] of starting coordinates along one axis for a motion of `d` (−1, 0, 1) on it. */
function startRange(d: number): [number, number] {
  if (d > 0) return [0, LAST - TRAVEL];
  if (d < 0) return [TRAVEL, LAST];
  return [0, LAST];
}

/** A seeded random source: uniform floats in [0, 1). */
export type Random = () => number;
export const seededRandom = (seed: number): Random => rng(seed);

const randInt = (r: Random, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** A copy of `xs` in a seeded random order (Fisher–Yates). */
export function shuffled<T>(r: Random, xs: Iterable<T>): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** k distinct elements of `xs`, in random order. */
const pick = <T>(r: Random, xs: readonly T[], k: number): T[] => shuffled(r, xs).slice(0, k);

function overlapsEver(a: Square, b: Square): boolean {
  for (let t = 0; t < CLIP_FRAMES; t++) {
    const p = squareAt(a, t);
    const q = squareAt(b, t);
    if (Math.abs(p.x - q.x) < SQUARE_SIZE && Math.abs(p.y - q.y) < SQUARE_SIZE) return true;
  }
  return false;
}

function sampleSquare(r: Random, colour: Colour, direction: Direction): Square {
  const [dx, dy] = STEP[direction];
  const [xl, xh] = startRange(dx);
  const [yl, yh] = startRange(dy);
  return { colour, direction, x0: randInt(r, xl, xh), y0: randInt(r, yl, yh) };
}

/** Checks a colour list (CLI input, page input): known names, no repeats, at least one. */
export function parseColours(list: readonly string[]): Colour[] {
  if (list.length === 0) throw new Error(`no colours given; choose from ${COLOURS.join(', ')}`);
  const out: Colour[] = [];
  for (const c of list) {
    if (!(COLOURS as readonly string[]).includes(c))
      throw new Error(`unknown colour "${c}"; choose from ${COLOURS.join(', ')}`);
    if (out.includes(c as Colour)) throw new Error(`colour "${c}" given twice`);
    out.push(c as Colour);
  }
  return out;
}

/** One clip drawn from `r`: the same sequence of draws gives the same clip. */
export function sampleClip(r: Random, opts: SampleOptions = {}): SquaresClip {
  const colours = parseColours(opts.colours ?? COLOURS);
  const two = colours.length >= 2 && r() < (opts.twoSquares ?? 0.5);
  const n = two ? 2 : 1;
  const cs = pick(r, colours, n);
  const ds = pick(r, DIRECTIONS, n);
  const asked = Math.floor(r() * n);
  for (;;) {
    const squares = cs.map((c, i) => sampleSquare(r, c, ds[i]));
    if (n === 1 || !overlapsEver(squares[0], squares[1])) return { squares, asked };
  }
}

/** Frame `t` as RGBA bytes (CLIP_SIZE² × 4, row-major, opaque), written into `out` when given. */
export function renderFrame(clip: SquaresClip, t: number, out?: Uint8Array): Uint8Array {
  const W = CLIP_SIZE;
  const px = out ?? new Uint8Array(W * W * 4);
  if (px.length !== W * W * 4)
    throw new Error(`renderFrame: buffer of ${px.length} bytes, want ${W * W * 4}`);
  px.fill(0);
  for (let i = 3; i < px.length; i += 4) px[i] = 255;
  for (const s of clip.squares) {
    const { x, y } = squareAt(s, t);
    const [R, G, B] = COLOUR_RGB[s.colour];
    for (let row = y; row < y + SQUARE_SIZE; row++)
      for (let col = x; col < x + SQUARE_SIZE; col++) {
        const o = (row * W + col) * 4;
        px[o] = R;
        px[o + 1] = G;
        px[o + 2] = B;
      }
  }
  return px;
}

/** The option letter of a direction: A left, B right, C up, D down. */
export const directionLetter = (d: Direction): string => String.fromCharCode(65 + DIRECTIONS.indexOf(d));

/** `Which way does the red square move?\nOptions:\nA. left\nB. right\nC. up\nD. down` */
export const squaresQuestion = (colour: Colour): string =>
  `Which way does the ${colour} square move?\n${formatOptions(DIRECTIONS)}`;

const askedSquare = (clip: SquaresClip): Square => clip.squares[clip.asked];

export const squaresQuestionOf = (clip: SquaresClip): string => squaresQuestion(askedSquare(clip).colour);

/** `<answer>X</answer>` for the asked square's direction. */
export const squaresSolution = (clip: SquaresClip): string =>
  `<answer>${directionLetter(askedSquare(clip).direction)}</answer>`;

/** "the top left", "the centre", "the middle right", … for a square's centre point. */
function region(cx: number, cy: number): string {
  const third = (v: number) => (v < CLIP_SIZE / 3 ? 0 : v < (2 * CLIP_SIZE) / 3 ? 1 : 2);
  const v = ['top', 'middle', 'bottom'][third(cy)];
  const h = ['left', 'centre', 'right'][third(cx)];
  if (v === 'middle' && h === 'centre') return 'the centre';
  return `the ${v} ${h}`;
}

const CLAUSE: Record<Direction, string> = {
  left: 'further left',
  right: 'further right',
  up: 'higher in the frame',
  down: 'lower in the frame',
};

/**
 * The templated reasoning of the cold-start SFT target, about the asked square's centre in the first
 * and last frames, e.g. "The red square starts near the top left and ends near the bottom left, lower
 * in the frame, so it moves down." Regions (of 9), not pixel coordinates: a small model can read a
 * region off the frames, while exact coordinates are mostly noise in the loss (the travel of 69 px
 * always crosses a third, so the two regions differ along the motion).
 */
export function squaresThink(clip: SquaresClip): string {
  const s = askedSquare(clip);
  const h = SQUARE_SIZE / 2;
  const a = squareAt(s, 0);
  const b = squareAt(s, CLIP_FRAMES - 1);
  const [ax, ay, bx, by] = [a.x + h, a.y + h, b.x + h, b.y + h];
  return (
    `The ${s.colour} square starts near ${region(ax, ay)} and ends near ${region(bx, by)}, ` +
    `${CLAUSE[s.direction]}, so it moves ${s.direction}.`
  );
}

/** The whole cold-start SFT completion: `<think>…</think><answer>X</answer>`. */
export const squaresCompletion = (clip: SquaresClip): string =>
  thinkThenAnswer(squaresThink(clip), squaresSolution(clip));
