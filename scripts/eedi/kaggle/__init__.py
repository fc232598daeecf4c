"""Delivery to Kaggle: what the publishing commands (scripts/kaggle/) and the offline notebook use.

    cli          the kaggle CLI: credentials, executable, running it
    dataset      a folder staged and pushed as a Kaggle dataset (weights, code), its record
    image        Kaggle's image as data: its Python, glibc and package pins (a pip freeze)
    wheels       the wheels the offline notebook installs, downloaded for Kaggle's Python and
                 resolved offline against its image
    install      the notebook's install cell: the wheels exactly, pip check, a smoke test;
                 vLLM into a folder of its own
    kernel       the notebook folder: kernel-metadata.json written and checked (one slug rule),
                 its sources looked up, pushed versions recorded
    notebook     the notebook's cells (nbformat)
    submissions  polling a competition's submissions until scored; the elapsed time
    inputs       finding the competition, code, weights and wheels under /kaggle/input
    plan         the notebook's plan: the test-side stage commands Make runs, in order
    time_budget  the notebook's time guard: will the stages left fit the limit? each one's
                 allowance
    t4           a reranker's cost on Kaggle's 2x T4: a roofline from the datasheet
"""
