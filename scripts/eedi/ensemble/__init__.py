"""Ensembling: stages built from other stages' out-of-fold rankings.

    fusion   rank fusion of several rankings, weights tuned out-of-fold on MAP@25
    boost    the unseen-misconception boost, its constant tuned out-of-fold
    cascade  a later stage reordering only an earlier one's top N; the trade-off table
"""
