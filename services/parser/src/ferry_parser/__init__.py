"""Ferry's parser service: uploaded files in, parsed summaries and chunks out."""
