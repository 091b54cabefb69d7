DROP TABLE ack_link_uses;
DROP TABLE sms_reply_codes;
