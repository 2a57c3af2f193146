import { useEffect, useRef } from 'react';
import type { LoadedVideo } from '../../engine-client';
import { formatTimestamp } from './video-format';

/** The sampled frames, in slot order, with their frame index and timestamp. */
export function Filmstrip({ video }: { video: LoadedVideo }) {
  return (
    // The strip scrolls sideways: focusable, so the keyboard can scroll it too (arrow keys).
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must take the focus
    <ol className="filmstrip" aria-label="Sampled frames" data-testid="filmstrip" tabIndex={0}>
      {video.thumbnails.map((bmp, slot) => (
        <li
          // Slots are positions: the list is replaced whole when another video loads.
          // biome-ignore lint/suspicious/noArrayIndexKey: slot order is the identity here
          key={`${video.key}-${slot}`}
          className="filmstrip-frame"
          data-testid="filmstrip-frame"
          data-index={video.indices[slot]}
          data-timestamp-us={video.timestampsUs[slot]}
        >
          <Thumb bitmap={bmp} label={`Frame ${video.indices[slot]}`} />
          <span className="filmstrip-time">
            {formatTimestamp(video.timestampsUs[slot] - video.facts.startUs)}
          </span>
          <span className="filmstrip-index">#{video.indices[slot]}</span>
        </li>
      ))}
    </ol>
  );
}

function Thumb({ bitmap, label }: { bitmap: ImageBitmap; label: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx || bitmap.width === 0) return;
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
  }, [bitmap]);
  return <canvas ref={ref} className="filmstrip-thumb" role="img" aria-label={label} />;
}
