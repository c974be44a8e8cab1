"""linli (邻里): livestream commerce and demand crowdfunding for residential communities."""
