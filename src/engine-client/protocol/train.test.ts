import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_SETTINGS, settingsProblems } from './train';

describe('settingsProblems', () => {
  it('passes the defaults and names each bad setting', () => {
    expect(settingsProblems(DEFAULT_TRAIN_SETTINGS)).toEqual([]);
    expect(settingsProblems({ ...DEFAULT_TRAIN_SETTINGS, lora_dropout: 0.1 })).toEqual([]);
    for (const lora_dropout of [1, -0.1, Number.NaN])
      expect(settingsProblems({ ...DEFAULT_TRAIN_SETTINGS, lora_dropout })).toEqual([
        'lora_dropout must be a number from 0 to below 1',
      ]);
    expect(settingsProblems({ ...DEFAULT_TRAIN_SETTINGS, r: 0, learning_rate: 0 })).toEqual([
      'r must be a whole number from 1 to 256',
      'learning_rate must be above 0',
    ]);
  });
});
