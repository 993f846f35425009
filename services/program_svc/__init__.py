"""The program service: users, lifter profiles, methodologies and generated programs."""
