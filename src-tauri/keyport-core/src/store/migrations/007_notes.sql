-- A note per connection ("Client: Müller GmbH, VAT returns"), beside its
-- label: free text the person keeps for themselves; never a secret.
ALTER TABLE connections ADD COLUMN note TEXT;
