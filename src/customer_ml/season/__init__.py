"""`customer-ml season`: a simulated year of operation (year), operated week by week (operate),
checked against the reaction each scenario expects (checks), and reported (report)."""
