"""Who and where: communities, residents, grid workers, pickup points, points and fund ledgers."""
