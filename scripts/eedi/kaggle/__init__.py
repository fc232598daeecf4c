"""Delivery to Kaggle: what the publishing commands (scripts/kaggle/) and the offline notebook use.

    cli          the kaggle CLI: credentials, executable, running it
    dataset      a folder staged and pushed as a Kaggle dataset (weights, code), its record
    wheels       the wheels the offline notebook installs, downloaded for Kaggle's Python
    kernel       the notebook folder: kernel-metadata.json written and checked (one slug rule),
                 its sources looked up, pushed versions recorded
    notebook     the notebook's cells (nbformat)
    submissions  polling a competition's submissions until scored; the elapsed time
    inputs       finding the competition, code, weights and wheels under /kaggle/input
    plan         the notebook's plan: the test-side stage commands Make runs, in order
    time_budget  the notebook's time guard: will the stages left fit the limit?
"""
