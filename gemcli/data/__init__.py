"""Raw readers per dataset, negative sampling, splitting, libfm import -> encoded splits + meta.json."""
