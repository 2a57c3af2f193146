/**
 * What `ask` needs from the video the video service decoded: the sampled frames (the service owns
 * them; ask only reads them) and what decoding them cost. engine.ts wires the lookup to the service.
 */
import type { FrameSource } from '../gpu/frames-to-tensor';

export interface VideoFrames {
  /** Changes whenever another video (or another sampling of it) is loaded: keys the visual-token cache. */
  key: string | number;
  frames: readonly FrameSource[];
  /** Demux + decode + sampling time, for the stats line; null when unknown. */
  decodeMs: number | null;
}

/** The currently loaded video, or null (then ask runs text only). */
export type VideoLookup = () => VideoFrames | null | Promise<VideoFrames | null>;

export const noVideo: VideoLookup = () => null;
