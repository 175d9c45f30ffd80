"""Music data: reading NES-MDB MIDI, scanning a corpus and reporting bad files, mapping tracks
to the four voices, tokens and vocabularies, the token store on disk, and the demo corpus.

Everything that knows the MIDI format or the token format lives here; models and evaluation
see only notes arrays and token ids.
"""
