"""Architecture plugins: one file per architecture (title, include, create(input_shape))."""
