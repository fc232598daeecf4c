"""Many experiments, unattended: a plan of settings run as a queue (make experiments).

    plan     experiments/<name>.tsv read and checked: one row per experiment, one column per
             Make variable; which variables rows may vary (those the outputs are named by)
    summary  each finished row's CV beside the baseline's: MAP@25 overall / seen / unseen /
             balanced, the paired interval of the difference, recall, cost; table and plot
    notify   the user's NOTIFY command, given one line on its standard input
"""
