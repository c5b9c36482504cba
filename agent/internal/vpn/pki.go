package vpn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI is a certificate authority made for one lab run, with the
// gateway's and the client's certificates, as an enterprise's OpenVPN
// deployment has: ECDSA P-256 keys, the gateway's certificate for TLS
// servers only (extended key usage serverAuth, which the client checks
// with remote-cert-tls server) and the client's for TLS clients only.
// The files are written 0600; the keys never leave the lab directory.
type PKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string // PEM file paths
	// TLSCrypt is an OpenVPN static key (tls-crypt): every control
	// channel packet is authenticated and encrypted with it.
	TLSCrypt string
}

// NewPKI writes a fresh CA and certificates for server and client (their
// common names) into dir.
func NewPKI(dir, server, client string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mip4d lab CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &PKI{
		CA:         filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
		TLSCrypt: filepath.Join(dir, "tls-crypt.key"),
	}
	if err := writePEM(p.CA, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	leaves := []struct {
		cn        string
		usage     x509.ExtKeyUsage
		cert, key string
	}{
		{server, x509.ExtKeyUsageServerAuth, p.ServerCert, p.ServerKey},
		{client, x509.ExtKeyUsageClientAuth, p.ClientCert, p.ClientKey},
	}
	for i, leaf := range leaves {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: leaf.cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(7 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			ExtKeyUsage:  []x509.ExtKeyUsage{leaf.usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := writePEM(leaf.cert, "CERTIFICATE", der); err != nil {
			return nil, err
		}
		if err := writePEM(leaf.key, "PRIVATE KEY", kder); err != nil {
			return nil, err
		}
	}
	static := make([]byte, 256)
	if _, err := rand.Read(static); err != nil {
		return nil, err
	}
	return p, os.WriteFile(p.TLSCrypt, []byte(staticKeyFile(static)), 0o600)
}

// staticKeyFile formats 256 bytes as OpenVPN's static key file (what
// `openvpn --genkey tls-crypt` writes): 16 lines of 16 bytes in hex.
func staticKeyFile(key []byte) string {
	var b strings.Builder
	b.WriteString("-----BEGIN OpenVPN Static key V1-----\n")
	for i := 0; i < len(key); i += 16 {
		b.WriteString(hex.EncodeToString(key[i:min(i+16, len(key))]))
		b.WriteByte('\n')
	}
	b.WriteString("-----END OpenVPN Static key V1-----\n")
	return b.String()
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
