"""The welcome loop: newcomers introduce themselves and someone says hello back."""
