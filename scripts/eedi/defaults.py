"""The values several stages share, in one place. Make passes an option only when the user sets
its variable, so these are the defaults of `make` and of the scripts alike."""

COMPETITION = "eedi-mining-misconceptions-in-mathematics"  # Kaggle's slug
SUBMISSION_TOP_K = 25   # ids per row in submission.csv; the K of MAP@K
TOP_K = 100             # candidates kept per row by retrieval
SEED = 42               # training and mining seed
