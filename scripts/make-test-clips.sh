#!/usr/bin/env bash
# Makes the ffmpeg-generated video clips the tests and the benchmark use, into an ignored folder.
# Idempotent: a clip that exists is kept. Usage:
#   scripts/make-test-clips.sh [small|long|bench|all] [out-dir]   (default: small .cache/video-clips)
#   small: rotation, odd sizes, variable frame rate, one frame, and the bad inputs (a few seconds)
#   long:  a 10-minute 160×90 clip (memory-bound test)
#   bench: 60 s 720p clips: H.264 x264-default GOP (250), H.264 1 s GOP, VP9
set -euo pipefail

set_name="${1:-small}"
out="${2:-.cache/video-clips}"
mkdir -p "$out"
# One run at a time per folder (tests and benchmarks may call this concurrently).
exec 9>"$out/.lock"
flock 9
flower="$(dirname "$0")/../test-data/videos/mdn_flower.mp4"
ff() { ffmpeg -nostdin -v error -y "$@"; }
src() { echo "testsrc2=size=$1:rate=$2:duration=$3"; }

# want NAME: false if NAME exists; else sets $tmp (write the clip there) and $name. finish: moves it in place.
want() {
  name="$1"
  tmp="$out/.tmp.$1"
  [[ ! -s "$out/$1" ]]
}
finish() {
  mv "$tmp" "$out/$name"
  echo "made $out/$name"
}

small() {
  if want base-320x240.mp4; then
    ff -f lavfi -i "$(src 320x240 30 2)" -c:v libx264 -pix_fmt yuv420p -g 30 -f mp4 "$tmp"; finish
  fi
  # Rotation metadata, set on a stream copy (ffmpeg 5.1 writes a display matrix from the rotate tag;
  # ffprobe then reports rotation 90, -180, -90 for tags 90, 180, 270).
  for r in 90 180 270; do
    if want "rot-tag$r.mp4"; then ff -i "$out/base-320x240.mp4" -c copy -metadata:s:v:0 rotate=$r -f mp4 "$tmp"; finish; fi
  done
  # Odd sizes (VP9 and AV1 allow odd dimensions; x264 4:2:0 does not). Made from real footage: on
  # testsrc2's hard colour edges, Chromium's and ffmpeg's chroma upsampling at odd widths differ by
  # more than the comparison tolerates, though luma matches.
  if want odd-171x97-vp9.webm; then
    ff -i "$flower" -t 2 -an -vf scale=171:97,setsar=1 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -f webm "$tmp"; finish
  fi
  if want odd-99x67-av1.mp4; then
    ff -i "$flower" -t 1 -an -vf scale=99:67,setsar=1 -c:v libaom-av1 -cpu-used 8 -usage realtime -b:v 200k -f mp4 "$tmp"; finish
  fi
  # Variable frame rate: timestamps N²·2 ms, so intervals grow from 2 ms to ~200 ms.
  if want vfr.mp4; then
    ff -f lavfi -i "$(src 320x240 50 2)" -vf "setpts='N*N*0.002/TB'" -fps_mode passthrough \
      -c:v libx264 -pix_fmt yuv420p -g 20 -video_track_timescale 1000 -f mp4 "$tmp"; finish
  fi
  if want one-frame.mp4; then
    ff -f lavfi -i "$(src 320x240 30 1)" -frames:v 1 -c:v libx264 -pix_fmt yuv420p -f mp4 "$tmp"; finish
  fi
  if want five-frames.webm; then
    ff -f lavfi -i "$(src 160x120 25 1)" -frames:v 5 -c:v libvpx-vp9 -deadline realtime -f webm "$tmp"; finish
  fi
  # Containers besides MP4/WebM: Matroska and QuickTime.
  if want h264.mkv; then
    ff -f lavfi -i "$(src 320x240 25 2)" -c:v libx264 -pix_fmt yuv420p -g 25 -f matroska "$tmp"; finish
  fi
  if want h264.mov; then
    ff -f lavfi -i "$(src 320x240 25 2)" -c:v libx264 -pix_fmt yuv420p -g 25 -f mov "$tmp"; finish
  fi
  # Bad inputs.
  if want audio-only.m4a; then ff -f lavfi -i "sine=frequency=440:duration=1" -c:a aac -f mp4 "$tmp"; finish; fi
  if want not-a-video.mp4; then
    for _ in $(seq 50); do echo 'This is a text file, not a video.'; done > "$tmp"; finish
  fi
  # Truncated: moov first (faststart), then cut in the middle of the media data.
  if want faststart.mp4; then
    ff -f lavfi -i "$(src 320x240 30 3)" -c:v libx264 -pix_fmt yuv420p -g 15 -movflags +faststart -f mp4 "$tmp"; finish
  fi
  if want truncated.mp4; then
    head -c $(( $(stat -c %s "$out/faststart.mp4") / 2 )) "$out/faststart.mp4" > "$tmp"; finish
  fi
  # Zero frames: a fragmented MP4's init segment (moov with a video track and no samples).
  if want zero-frames.mp4; then
    ff -f lavfi -i "$(src 160x120 25 1)" -c:v libx264 -pix_fmt yuv420p -movflags frag_keyframe+empty_moov -f mp4 "$tmp.full"
    off=$(grep -obUaP "moof" "$tmp.full" | head -1 | cut -d: -f1)
    head -c $(( off - 4 )) "$tmp.full" > "$tmp"; rm -f "$tmp.full"; finish
  fi
}

long() {
  # 10 minutes, 30 fps, 160×90: 18,000 frames, x264 default GOP (250).
  if want long-10min-160x90.mp4; then
    ff -f lavfi -i "$(src 160x90 30 600)" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -f mp4 "$tmp"; finish
  fi
}

bench() {
  local s
  s="$(src 1280x720 30 60)"
  if want bench-h264-gop250.mp4; then
    ff -f lavfi -i "$s" -c:v libx264 -preset veryfast -pix_fmt yuv420p -f mp4 "$tmp"; finish
  fi
  if want bench-h264-gop30.mp4; then
    ff -f lavfi -i "$s" -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30 -keyint_min 30 -f mp4 "$tmp"; finish
  fi
  if want bench-vp9.webm; then
    ff -f lavfi -i "$s" -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -row-mt 1 -b:v 2M -f webm "$tmp"; finish
  fi
}

case "$set_name" in
  small) small ;;
  long) long ;;
  bench) bench ;;
  all) small; long; bench ;;
  *) echo "usage: $0 [small|long|bench|all] [out-dir]" >&2; exit 2 ;;
esac
