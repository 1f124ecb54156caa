"""Source node types: where frames come from (camera, video, images, synthetic)."""
