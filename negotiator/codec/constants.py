"""ISAKMP wire codes with their RFC names (RFC 2407, RFC 2408, RFC 2409 Appendix A, RFC 3947)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

ISAKMP_VERSION = 0x10  # major 1, minor 0 (RFC 2408 section 3.1)
HEADER_LENGTH = 28
GENERIC_HEADER_LENGTH = 4

# Bounds on network input (each checked by the codec).
MAX_PACKET_SIZE = 65535
MAX_PAYLOADS = 64
MAX_PROPOSALS = 16
MAX_TRANSFORMS = 64
MAX_ATTRIBUTES = 32
MAX_SPIS = 64


class ExchangeType(IntEnum):
    """RFC 2408 section 3.1, RFC 2409 sections 5 and 9 (Quick Mode)."""

    NONE = 0
    BASE = 1
    IDENTITY_PROTECTION = 2  # main mode
    AUTHENTICATION_ONLY = 3
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    QUICK = 32
    NEW_GROUP = 33


class Flags(IntFlag):
    """RFC 2408 section 3.1: E(ncryption), C(ommit), A(uthentication only)."""

    NONE = 0
    ENCRYPTION = 0x01
    COMMIT = 0x02
    AUTHENTICATION_ONLY = 0x04


class PayloadType(IntEnum):
    """RFC 2408 section 3.1 (Next Payload), RFC 3947 (NAT-D), draft NAT-D and fragmentation."""

    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CERTREQ = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFY = 11
    DELETE = 12
    VENDOR_ID = 13
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131
    FRAGMENT = 132


class NotifyType(IntEnum):
    """RFC 2408 section 3.14.1 (errors 1..30, status 16384), RFC 2407 section 4.6.3, RFC 3706."""

    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136  # RFC 3706 dead peer detection
    R_U_THERE_ACK = 36137


class Doi(IntEnum):
    ISAKMP = 0
    IPSEC = 1  # RFC 2407


class Situation(IntEnum):
    """RFC 2407 section 4.2 (a bitmask; only SIT_IDENTITY_ONLY is supported)."""

    SIT_IDENTITY_ONLY = 0x01
    SIT_SECRECY = 0x02
    SIT_INTEGRITY = 0x04


class ProtocolId(IntEnum):
    """RFC 2407 section 4.4.1."""

    RESERVED = 0
    PROTO_ISAKMP = 1
    PROTO_IPSEC_AH = 2
    PROTO_IPSEC_ESP = 3
    PROTO_IPCOMP = 4


class IsakmpTransformId(IntEnum):
    """RFC 2407 section 4.4.2."""

    KEY_IKE = 1


class AttributeType(IntEnum):
    """RFC 2409 Appendix A, attribute classes (B = basic/TV, V = variable/TLV)."""

    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class EncryptionAlgorithmId(IntEnum):
    """RFC 2409 Appendix A, RFC 3602 (AES-CBC = 7)."""

    DES_CBC = 1
    IDEA_CBC = 2
    BLOWFISH_CBC = 3
    RC5_R16_B64_CBC = 4
    TRIPLE_DES_CBC = 5
    CAST_CBC = 6
    AES_CBC = 7
    CAMELLIA_CBC = 8


class HashAlgorithmId(IntEnum):
    """RFC 2409 Appendix A, RFC 4868 section 2.4 (SHA2)."""

    MD5 = 1
    SHA = 2
    TIGER = 3
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class AuthenticationMethodId(IntEnum):
    """RFC 2409 Appendix A."""

    PRE_SHARED_KEY = 1
    DSS_SIGNATURES = 2
    RSA_SIGNATURES = 3
    RSA_ENCRYPTION = 4
    REVISED_RSA_ENCRYPTION = 5
    ECDSA_256 = 9  # RFC 4754 section 5: ECDSA with SHA-256 on the P-256 curve
    ECDSA_384 = 10  # RFC 4754 section 5: ECDSA with SHA-384 on the P-384 curve
    ECDSA_521 = 11


class CertEncoding(IntEnum):
    """RFC 2408 section 3.9 (Certificate Encoding, also the CERT_REQ Cert. Type)."""

    PKCS7_WRAPPED_X509 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_SIGNATURE = 4
    KERBEROS_TOKEN = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_ATTRIBUTE = 10


class LifeType(IntEnum):
    """RFC 2409 Appendix A."""

    SECONDS = 1
    KILOBYTES = 2


class IdType(IntEnum):
    """RFC 2407 section 4.6.2.1."""

    ID_IPV4_ADDR = 1
    ID_FQDN = 2
    ID_USER_FQDN = 3
    ID_IPV4_ADDR_SUBNET = 4
    ID_IPV6_ADDR = 5
    ID_IPV6_ADDR_SUBNET = 6
    ID_IPV4_ADDR_RANGE = 7
    ID_IPV6_ADDR_RANGE = 8
    ID_DER_ASN1_DN = 9
    ID_DER_ASN1_GN = 10
    ID_KEY_ID = 11
