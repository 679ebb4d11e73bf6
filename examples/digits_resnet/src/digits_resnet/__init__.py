"""A team's own model code for 8x8 digit images, trained by trainpipe."""
