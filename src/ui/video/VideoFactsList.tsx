import type { ReactNode } from 'react';
import type { LoadedVideo } from '../../engine-client';
import { formatBytes, formatCount, formatMs } from '../format';
import { formatDuration, formatFps } from './video-format';

/** Container, codec, size, duration, rate, frame count, decode path (and why), time taken. */
export function VideoFactsList({ video }: { video: LoadedVideo }) {
  const f = video.facts;
  const size =
    f.rotation === 0
      ? `${f.displayWidth}×${f.displayHeight}`
      : `${f.displayWidth}×${f.displayHeight} (coded ${f.codedWidth}×${f.codedHeight}, rotated ${f.rotation}°)`;
  const path =
    video.path === 'webcodecs'
      ? `WebCodecs VideoDecoder × ${video.decoders} (${video.reason})`
      : `<video> element fallback (${video.reason})`;
  const method =
    video.method.kind === 'uniform'
      ? `${video.method.n} frames, uniform`
      : `one every ${video.method.seconds} s (${video.indices.length} frames)`;
  return (
    <dl className="facts video-facts" data-testid="video-facts">
      <Fact id="container" label="Container" value={f.container} />
      <Fact id="codec" label="Codec" value={f.codecString ?? f.codec} />
      <Fact id="size" label="Size" value={size} />
      <Fact id="duration" label="Duration" value={formatDuration(f.durationS)} />
      <Fact id="fps" label="Frame rate" value={formatFps(f.fps)} />
      <Fact
        id="frames"
        label="Frames"
        value={`${formatCount(f.frameCount)} (${formatCount(f.keyFrameCount)} key frames)`}
      />
      <Fact id="sampling" label="Sampled" value={method} />
      <Fact id="path" label="Decoded with" value={path} />
      <Fact
        id="time"
        label="Time taken"
        value={
          video.path === 'webcodecs'
            ? `${formatMs(video.timeMs)} · ${formatCount(video.packetsDecoded)} packets decoded · ${formatBytes(video.bytesRead)} read`
            : formatMs(video.timeMs)
        }
      />
      {f.sizeBytes !== null && <Fact id="file-size" label="File size" value={formatBytes(f.sizeBytes)} />}
    </dl>
  );
}

function Fact({ id, label, value }: { id: string; label: string; value: ReactNode }) {
  return (
    <div className="fact" data-fact={id}>
      <dt>{label}</dt>
      <dd data-testid={`video-fact-${id}`}>{value}</dd>
    </div>
  );
}
