"""Video: ffmpeg, frame sources and outputs, muxing, the video pipeline."""
