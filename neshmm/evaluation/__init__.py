"""Evaluation: metrics as pure functions of notes and tokens, scoring of every voice × model
against the reference and the real control, and the tables and plots they are written as.
"""
