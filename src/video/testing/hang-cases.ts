/**
 * Damaged WebMs on which mediabunny 1.61's Matroska demuxer looped synchronously forever, found by
 * the long demuxer fuzz and fixed by patches/mediabunny+1.61.0.patch. Each is a real clip from
 * test-data/videos damaged the way the fuzz did it; Node (demux-resync.test.ts) and Chromium
 * (e2e/video.lib.spec.ts) both open them.
 */
export interface HangCase {
  what: string;
  /** The clip in test-data/videos. */
  name: string;
  /** The damaged copy of the clip's bytes (throws if the clip is not the one expected). */
  damage(clip: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer>;
}

function expectBytes(clip: Uint8Array, at: number, bytes: number[]): void {
  const got = [...clip.subarray(at, at + bytes.length)];
  if (got.join() !== bytes.join()) throw new Error(`unexpected clip: bytes at ${at} are ${got}`);
}

export const HANG_CASES: HangCase[] = [
  {
    // resync scanned nothing when exactly 8 bytes were left before its limit, and never advanced.
    what: 'the last cluster of a WebM ends in zeros (FUZZ_SEED=1)',
    name: 'androidx_bear-vp9-odd-dimensions.webm',
    damage: (clip) => {
      if (clip.byteLength !== 31_548) throw new Error(`unexpected clip: ${clip.byteLength} bytes`);
      return clip.slice().fill(0, 31_179, 31_179 + 350);
    },
  },
  {
    // The Info element's 8-byte size is cut after 5 bytes: its header is unreadable, and the resync
    // that followed found the same level-1 ID at the same place again.
    what: 'a WebM is cut inside the size of a level-1 element (FUZZ_SEED=4)',
    name: 'libwebm_bbb_480p_vp9_opus_1second.webm',
    damage: (clip) => {
      expectBytes(clip, 0x116, [0x15, 0x49, 0xa9, 0x66, 0x01]);
      return clip.slice(0, 0x11f);
    },
  },
];
