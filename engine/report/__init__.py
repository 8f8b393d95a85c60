"""What a front-end shows when it sets runs side by side or takes them out of the console:
the differences of runs against a baseline (``diff``) and every run as one flat row of every
column (``export``). Pure Python, torch-free; ``engine.api`` exports the verbs.
"""
