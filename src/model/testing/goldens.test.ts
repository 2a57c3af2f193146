import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureByName, hubConfig } from '../../../scripts/fixtures/spec';
import { parseModelConfig } from '../config';
import {
  FIXTURE_NAMES,
  goldenDir,
  normalizeFrames,
  REPO_ROOT,
  readGoldenIndex,
  readGoldenTensor,
} from './goldens';

describe('model goldens', () => {
  const prompt = JSON.parse(readFileSync(join(REPO_ROOT, 'test-data/goldens/model/prompt.json'), 'utf8'));

  it('the prompt splits on <image> into the ids MODEL.md describes', () => {
    expect(prompt.text.split('<image>')).toEqual(prompt.parts);
    expect(prompt.part0Ids.at(-1)).toBe(220); // a lone space
    expect(prompt.part1Ids[0]).toBe(198); // "\n"
    expect(prompt.question).toMatch(/<answer> <\/answer> tags\.$/);
  });

  for (const name of FIXTURE_NAMES) {
    it(`${name}: every golden file exists and matches its index (size, hash, shape)`, () => {
      const idx = readGoldenIndex(name);
      const cfg = parseModelConfig(hubConfig(fixtureByName(name)));
      const [F, , S] = idx.frames.shape;
      expect(S).toBe(cfg.vision.imageSize);
      const want = {
        visionFeatures: [F, cfg.vision.tokensPerFrame, cfg.vision.hidden],
        connectorOutput: [cfg.connector.numQueries, cfg.text.hidden],
        logits: [idx.decode.steps + 1, cfg.text.vocab],
        finalHidden: [idx.decode.steps + 1, cfg.text.hidden],
      };
      for (const [key, t] of Object.entries(idx.tensors)) {
        expect(t.shape, key).toEqual(want[key as keyof typeof want]);
        const bytes = readFileSync(join(goldenDir(name), t.file));
        expect(bytes.byteLength, key).toBe(t.shape.reduce((a, b) => a * b, 1) * 4);
        expect(createHash('sha256').update(bytes).digest('hex'), key).toBe(t.sha256);
      }
      expect(idx.prompt.part0Ids).toEqual(prompt.part0Ids);
      expect(idx.prompt.part1Ids).toEqual(prompt.part1Ids);
      expect(idx.sequence).toEqual({
        promptLength: prompt.part0Ids.length + cfg.connector.numQueries + prompt.part1Ids.length,
        visualStart: prompt.part0Ids.length,
        visualTokens: cfg.connector.numQueries,
      });
    });

    it(`${name}: greedy ids are the argmax of each logits row, margins the top-2 gap`, () => {
      const idx = readGoldenIndex(name);
      const logits = readGoldenTensor(name, idx.tensors.logits);
      const V = idx.tensors.logits.shape[1];
      idx.decode.greedyIds.forEach((id, row) => {
        let best = -1;
        let second = -1;
        for (let v = 0; v < V; v++) {
          const x = logits[row * V + v];
          if (best < 0 || x > logits[row * V + best]) {
            second = best;
            best = v;
          } else if (second < 0 || x > logits[row * V + second]) second = v;
        }
        expect(best).toBe(id);
        expect(logits[row * V + best] - logits[row * V + second]).toBeCloseTo(idx.decode.margins[row], 4);
      });
      const all = [
        ...readGoldenTensor(name, idx.tensors.visionFeatures),
        ...readGoldenTensor(name, idx.tensors.connectorOutput),
      ];
      expect(all.every(Number.isFinite)).toBe(true);
    });
  }

  it('normalizeFrames follows upstream float32 preprocessing', () => {
    const x = normalizeFrames(new Uint8Array([0, 255, 128, 1]));
    expect(Array.from(x.slice(0, 2))).toEqual([-1, 1]);
    expect(x[2]).toBe(Math.fround(Math.fround(128 / 255) - 0.5) * 2);
  });
});
