"""Jobs built on the runtime: single images, image folders, video."""
