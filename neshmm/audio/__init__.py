"""Audio and pictures of music: the NES APU synthesizer, piano rolls, and the HTML pages
that let a person listen to generated and real pieces side by side.
"""
