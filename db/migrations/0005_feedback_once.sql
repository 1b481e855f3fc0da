-- Feedback counts once per prediction: the first label wins, on any replica.
ALTER TABLE predictions ADD COLUMN feedback_label text CHECK (feedback_label IN ('ham', 'spam'));
ALTER TABLE predictions ADD COLUMN feedback_at timestamptz;
