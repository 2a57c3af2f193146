import { describe, expect, it } from 'vitest';
import {
  CLIP_FRAMES,
  CLIP_SIZE,
  COLOUR_RGB,
  COLOURS,
  DIRECTIONS,
  directionLetter,
  parseColours,
  renderFrame,
  SQUARE_SIZE,
  type SquaresClip,
  sampleClip,
  seededRandom,
  squareAt,
  squaresCompletion,
  squaresQuestionOf,
  squaresSolution,
  squaresThink,
} from './moving-squares';

const sample = (n: number, seed: number, opts = {}): SquaresClip[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => sampleClip(r, opts));
};

describe('moving squares: sampling', () => {
  const clips = sample(2000, 1);

  it('keeps every square inside the frame in every frame, moving 3 px a frame in its direction', () => {
    const bad: string[] = [];
    const step = { left: [-3, 0], right: [3, 0], up: [0, -3], down: [0, 3] };
    clips.forEach(({ squares }, i) => {
      for (const s of squares)
        for (let t = 0; t < CLIP_FRAMES; t++) {
          const p = squareAt(s, t);
          if (p.x < 0 || p.y < 0 || p.x + SQUARE_SIZE > CLIP_SIZE || p.y + SQUARE_SIZE > CLIP_SIZE)
            bad.push(`clip ${i} ${s.colour} frame ${t}: outside at (${p.x}, ${p.y})`);
          if (t === 0) continue;
          const q = squareAt(s, t - 1);
          const [dx, dy] = step[s.direction];
          if (p.x - q.x !== dx || p.y - q.y !== dy) bad.push(`clip ${i} ${s.colour} frame ${t}: wrong step`);
        }
    });
    expect(bad).toEqual([]);
  });

  it('gives two squares different colours and directions, never overlapping', () => {
    const twos = clips.filter((c) => c.squares.length === 2);
    expect(twos.length).toBeGreaterThan(800);
    expect(twos.length).toBeLessThan(1200);
    let bad = 0;
    for (const { squares } of twos) {
      const [a, b] = squares;
      if (a.colour === b.colour || a.direction === b.direction) bad++;
      for (let t = 0; t < CLIP_FRAMES; t++) {
        const p = squareAt(a, t);
        const q = squareAt(b, t);
        if (Math.abs(p.x - q.x) < SQUARE_SIZE && Math.abs(p.y - q.y) < SQUARE_SIZE) bad++;
      }
    }
    expect(bad).toBe(0);
  });

  it('starts anywhere that allows it: every colour, direction and asked square occurs, starts span the range', () => {
    const asked = clips.map((c) => c.squares[c.asked]);
    for (const c of COLOURS) expect(asked.some((s) => s.colour === c)).toBe(true);
    for (const d of DIRECTIONS) expect(asked.some((s) => s.direction === d)).toBe(true);
    expect(clips.some((c) => c.asked === 1)).toBe(true);
    const rights = asked.filter((s) => s.direction === 'right');
    expect(Math.min(...rights.map((s) => s.x0))).toBe(0);
    expect(Math.max(...rights.map((s) => s.x0))).toBe(CLIP_SIZE - SQUARE_SIZE - 3 * (CLIP_FRAMES - 1));
    expect(Math.max(...rights.map((s) => s.y0))).toBe(CLIP_SIZE - SQUARE_SIZE);
  });

  it('answers with the letter of the asked square’s direction', () => {
    for (const clip of clips) {
      const s = clip.squares[clip.asked];
      const letter = 'ABCD'[DIRECTIONS.indexOf(s.direction)];
      expect(directionLetter(s.direction)).toBe(letter);
      expect(squaresSolution(clip)).toBe(`<answer>${letter}</answer>`);
      expect(squaresQuestionOf(clip)).toContain(`the ${s.colour} square`);
      expect(squaresThink(clip)).toMatch(
        new RegExp(`^The ${s.colour} square .*, so it moves ${s.direction}\\.$`),
      );
    }
  });

  it('uses only the chosen colours (one colour: one square)', () => {
    for (const c of sample(300, 2, { colours: ['red', 'blue'] }))
      for (const s of c.squares) expect(['red', 'blue']).toContain(s.colour);
    for (const c of sample(100, 3, { colours: ['green'] })) {
      expect(c.squares.length).toBe(1);
      expect(c.squares[0].colour).toBe('green');
    }
    expect(() => parseColours(['red', 'purple'])).toThrow(/unknown colour "purple"/);
    expect(() => parseColours(['red', 'red'])).toThrow(/given twice/);
  });

  it('is deterministic for a seed', () => {
    expect(sample(50, 9)).toEqual(sample(50, 9));
    expect(sample(50, 9)).not.toEqual(sample(50, 10));
  });
});

describe('moving squares: texts', () => {
  const clip: SquaresClip = { squares: [{ colour: 'red', direction: 'down', x0: 12, y0: 22 }], asked: 0 };

  it('writes the question with MODEL.md options, the solution and the SFT completion', () => {
    expect(squaresQuestionOf(clip)).toBe(
      'Which way does the red square move?\nOptions:\nA. left\nB. right\nC. up\nD. down',
    );
    expect(squaresSolution(clip)).toBe('<answer>D</answer>');
    expect(squaresCompletion(clip)).toBe(
      '<think>The red square starts near the top left and ends near the bottom left, lower in the frame, ' +
        'so it moves down.</think><answer>D</answer>',
    );
  });
});

describe('moving squares: frames', () => {
  it('draws each square’s 16×16 pixels in its colour where it is, black elsewhere', () => {
    const clip: SquaresClip = {
      squares: [
        { colour: 'yellow', direction: 'right', x0: 5, y0: 40 },
        { colour: 'blue', direction: 'up', x0: 100, y0: 110 },
      ],
      asked: 1,
    };
    for (const t of [0, 11, CLIP_FRAMES - 1]) {
      const px = renderFrame(clip, t);
      expect(px.length).toBe(CLIP_SIZE * CLIP_SIZE * 4);
      const boxes = clip.squares.map((s) => ({ ...squareAt(s, t), rgb: COLOUR_RGB[s.colour] }));
      let coloured = 0;
      for (let y = 0; y < CLIP_SIZE; y++)
        for (let x = 0; x < CLIP_SIZE; x++) {
          const o = (y * CLIP_SIZE + x) * 4;
          const box = boxes.find(
            (b) => x >= b.x && x < b.x + SQUARE_SIZE && y >= b.y && y < b.y + SQUARE_SIZE,
          );
          const want = box ? [...box.rgb, 255] : [0, 0, 0, 255];
          if (box) coloured++;
          if (px[o] !== want[0] || px[o + 1] !== want[1] || px[o + 2] !== want[2] || px[o + 3] !== 255)
            throw new Error(`frame ${t} (${x}, ${y}): got ${[...px.subarray(o, o + 4)]}, want ${want}`);
        }
      expect(coloured).toBe(2 * SQUARE_SIZE * SQUARE_SIZE);
    }
    // frame 23: the yellow square has moved 69 px right
    expect(squareAt(clip.squares[0], CLIP_FRAMES - 1)).toEqual({ x: 74, y: 40 });
  });
});
