"""Test suite for hallwatch."""
