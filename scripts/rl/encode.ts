/**
 * Encodes raw RGBA frames to H.264 in MP4 with ffmpeg (Debian's, on PATH; scripts/setup-test-env.mjs
 * installs it) through a pipe. One encoder thread and bit-exact muxing, so the same frames give the
 * same bytes; BT.709 limited range written into the stream so every decoder converts colours alike.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface ClipFormat {
  width: number;
  height: number;
  fps: number;
}

/** Whether `ffmpeg` runs. */
export const haveFfmpeg = (): boolean => spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

/** Writes `frames` (each width × height × 4 bytes, RGBA) to `path` as an MP4. */
export function encodeMp4(frames: readonly Uint8Array[], f: ClipFormat, path: string): Promise<void> {
  const frameBytes = f.width * f.height * 4;
  for (const fr of frames)
    if (fr.length !== frameBytes)
      throw new Error(`encodeMp4: a frame of ${fr.length} bytes, want ${frameBytes}`);
  // biome-ignore format: one flag and its value a line
  const args = [
    '-nostats', '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${f.width}x${f.height}`, '-r', String(f.fps), '-i', '-',
    '-vf', 'scale=out_color_matrix=bt709:out_range=tv',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-threads', '1',
    '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv',
    '-fflags', '+bitexact', '-flags:v', '+bitexact', '-map_metadata', '-1', '-movflags', '+faststart',
    '-f', 'mp4', path,
  ];
  return new Promise((done, fail) => {
    const child = spawn('ffmpeg', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', (e) =>
      fail(new Error(`could not run ffmpeg (${e.message}); run npm run setup:test-env or install ffmpeg`)),
    );
    child.on('close', (code) =>
      code === 0 ? done() : fail(new Error(`ffmpeg exited with ${code} writing ${path}: ${err.trim()}`)),
    );
    child.stdin.on('error', () => {}); // reported by 'close' with ffmpeg's own message
    for (const fr of frames) child.stdin.write(fr);
    child.stdin.end();
  });
}
