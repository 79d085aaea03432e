"""Files in and out: atomic writes and netCDF (`files`), CSV tables (`tables`), the compilation cache
(`cache`), and signal handling that removes half-written files (`signals`).

Kept free of heavy imports: `carbon_mc` loads `signals` first, before anything else.
"""
