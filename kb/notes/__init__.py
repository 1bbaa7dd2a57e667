"""One note: bytes in, a `Note` out (front matter, links, the model); what a new note says."""
