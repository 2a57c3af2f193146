/**
 * RGBA frames → an H.264 MP4 in the browser: WebCodecs' VideoEncoder compresses (key frame every
 * second), mediabunny's MP4 muxer writes the file in memory. For clips made in the page (the
 * fine-tune view's moving-squares generator), so a dataset built there is ordinary video files.
 */
import { BufferTarget, EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output } from 'mediabunny';

export interface RawClip {
  width: number;
  height: number;
  fps: number;
  /** Each width × height × 4 bytes, RGBA. */
  frames: readonly Uint8Array[];
}

/** Constrained baseline, level 3.1: every H.264 decoder takes it. */
const H264 = 'avc1.42001f';

export async function encodeMp4(clip: RawClip): Promise<Blob> {
  const { width, height, fps, frames } = clip;
  const config: VideoEncoderConfig = {
    codec: H264,
    width,
    height,
    framerate: fps,
    bitrate: 400_000,
    avc: { format: 'avc' },
  };
  const support = await VideoEncoder.isConfigSupported(config);
  if (!support.supported) throw new Error('this browser cannot encode H.264 video (VideoEncoder)');
  const target = new BufferTarget();
  const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'in-memory' }), target });
  const source = new EncodedVideoPacketSource('avc');
  output.addVideoTrack(source, { frameRate: fps });
  await output.start();
  // Packets are muxed in order, one after the other (the muxer wants them awaited).
  let chain: Promise<void> = Promise.resolve();
  let failed: unknown = null;
  const encoder = new VideoEncoder({
    output: (chunk, meta) => {
      chain = chain.then(() => source.add(EncodedPacket.fromEncodedChunk(chunk), meta));
    },
    error: (e) => {
      failed = e;
    },
  });
  encoder.configure(config);
  const usPerFrame = 1e6 / fps;
  for (const [t, rgba] of frames.entries()) {
    if (rgba.length !== width * height * 4)
      throw new Error(`frame ${t}: ${rgba.length} bytes, want ${width * height * 4}`);
    const frame = new VideoFrame(rgba, {
      format: 'RGBA',
      codedWidth: width,
      codedHeight: height,
      timestamp: Math.round(t * usPerFrame),
      duration: Math.round(usPerFrame),
    });
    encoder.encode(frame, { keyFrame: t % fps === 0 });
    frame.close();
  }
  await encoder.flush();
  encoder.close();
  await chain;
  if (failed) throw failed;
  await output.finalize();
  return new Blob([target.buffer!], { type: 'video/mp4' });
}
