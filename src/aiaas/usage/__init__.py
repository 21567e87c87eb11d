"""Usage records: written once per predict call at the point of inference, read per tenant."""
