from cryptography.fernet import Fernet

from casportal.crypto import decrypt_str, encrypt_str


def test_encrypted_values_do_not_contain_the_plaintext_and_round_trip(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = encrypt_str("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in token
    assert decrypt_str(token) == "JBSWY3DPEHPK3PXP"


def test_rotation_new_key_encrypts_old_key_still_decrypts(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    written_before = encrypt_str("secret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt_str(written_before) == "secret"
    written_after = encrypt_str("secret")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt_str(written_after) == "secret"
